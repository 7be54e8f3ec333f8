-- wrk script: POST one iris row as text/csv to /invocations.
wrk.method = "POST"
wrk.body = "5.1,3.5,1.4,0.2"
wrk.headers["Content-Type"] = "text/csv"
