"""The user's own inference code (script mode): an `inference.py` whose hooks replace parts of the
request path, as in AWS's scikit-learn and XGBoost containers.

    locate        where the script is, and whether the operator consented to run it
    requirements  whether the script's requirements.txt is already satisfied (nothing is installed)
    hooks         importing the script and checking its hooks before anything is served
    defaults      this container's own machinery as hooks, for every hook the script leaves out
    invoker       one request through the hooks: the same plan/answer shape as `invocations`

Must not know WSGI or gunicorn, and must not import the script in the gunicorn master: it runs
only in workers (and in `serve`'s forked proof), after fork, as the model's library does.
"""
