"""``percepta serve``: the web page and HTTP API (:mod:`percepta.serve.app`), and its bounded worker pool
(:mod:`percepta.serve.pool`). Needs the ``serve`` extra: ``pip install 'percepta[serve]'`` (FastAPI, uvicorn,
python-multipart); nothing here is imported by ``import percepta`` or the rest of the command line."""
