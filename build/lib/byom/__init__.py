"""byom: the client-side command line around the serving image (load test, plan, ship).

It runs on the user's machine or CI, never inside the serving image: the Dockerfile copies only
`container/`.
"""
