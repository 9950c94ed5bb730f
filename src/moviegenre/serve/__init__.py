"""Serving a model: the HTTP API and the web page.

- :mod:`~moviegenre.serve.api`: ``create_app`` (FastAPI) and ``serve`` (uvicorn)
- :mod:`~moviegenre.serve.settings`: ``ApiSettings``, the limits of a server
- :mod:`~moviegenre.serve.schemas`: request and response bodies
- :mod:`~moviegenre.serve.limits`: the refusals (413, 422, 503) and their JSON bodies
- :mod:`~moviegenre.serve.endpoints`: the endpoints, a few lines each over the classifier
- :mod:`~moviegenre.serve.batching`: micro-batching, worker pool, admission, backlog
- :mod:`~moviegenre.serve.connections`: connection deadlines and the connection cap
- :mod:`~moviegenre.serve.metrics`: Prometheus metrics and the access log
- :mod:`~moviegenre.serve.app`: the Streamlit page (``moviegenre app`` runs this file)

Nothing is imported here: FastAPI and Streamlit load only when a server starts.
"""
