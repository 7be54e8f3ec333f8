"""Multi-model endpoints: many models on one server, loaded and unloaded through `/models`.

SAGEMAKER_MULTI_MODEL=true switches it on. Every gunicorn worker holds every loaded model: a
`POST /models` answers 200 once each worker has loaded and proven the model, a `DELETE` once none
holds it. The workers agree through a directory in memory (`registry`), not through the master.

    location   which names and urls are safe to load                   (no I/O beyond stat/realpath)
    memory     what a model will cost and what the machine can give    (507 before the load)
    registry   the shared directory: claims, entries, holders, members (no model, no HTTP)
    models     one process's loaded models and its part in the protocol (no HTTP)
    api        the /models routes' answers                             (no WSGI)
"""
