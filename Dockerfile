# GLedger Sandbox: the default sandbox (merchant fixture) on port 8080.
#   docker build -t gledger-sandbox . && docker run -p 8080:8080 gledger-sandbox
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app

# Dependencies first, from pyproject alone, so this layer is cached until they change.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml','rb'))['project']['dependencies']))" > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt

# Everything pyproject.toml's wheel build reads (readme, force-included data); tests/test_dockerfile.py
# replays these COPY lines and builds the wheel from them, so a missing file fails the tests.
COPY README.md ARCHITECTURE.md schemathesis.toml ./
COPY spec ./spec
COPY fixtures ./fixtures
COPY src ./src
RUN pip install --no-deps . && useradd --system --uid 10001 --no-create-home sandbox
# The bundled spec, connexion's acceptance of it and the default tenant's Faker names, made
# once here for every start (src/gledger_sandbox/spec_cache.py): the sandbox user has no home
# to keep them in.
ENV GLEDGER_SANDBOX_CACHE=/app/cache
RUN python -c "from gledger_sandbox.bootstrap import sandbox_app; sandbox_app()" \
    && chmod -R a+rX /app/cache

USER sandbox
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=2).status != 200)"
ENTRYPOINT ["gledger-sandbox"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8080"]
