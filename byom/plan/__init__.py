"""Planning capacity: `byom plan` and `byom simulate`.

Owns: MAX_RPS from a measured timeline (or a step search it runs through byom.measure), the
fleet's size, target value and cost (sizing, prices), the autoscaling policy it proposes
(proposal) and the one plan file format (plan_file), the second-by-second fleet model the
simulator runs, and serverless inference priced and throttled over the same traffic (serverless,
compare, serverless_lines). Calls no AWS API; the policy it proposes is built by byom.ship's own request
builders, so what a plan prints is what `byom deploy` sends.
"""
