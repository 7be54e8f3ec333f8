"""Shipping to SageMaker: package, push, deploy, scale, invoke, status, destroy, cfn.

Owns: every AWS call of the commands (through byom.shared.aws), the request shapes of a deployment
(resources), the scaling plan `byom deploy --plan` applies (scaling_plan) and its reconciliation
with Application Auto Scaling (autoscaling), and waiting for an endpoint to settle. Must not
measure or plan: it reads a plan file, it does not make one.
"""
