# psc-mock: a mock of Pro Santé Connect. Slim, non-root, configured by PSC_MOCK_* variables.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PSC_MOCK_HOST=0.0.0.0 \
    PSC_MOCK_PORT=8080

WORKDIR /app
COPY pyproject.toml README.md ./
COPY idp ./idp
RUN pip install --no-cache-dir . \
    && useradd --system --uid 10001 --no-create-home psc \
    && rm -rf /app

USER 10001
EXPOSE 8080
HEALTHCHECK --interval=5s --timeout=3s --start-period=3s --retries=3 CMD ["psc-mock", "health"]
CMD ["psc-mock", "serve"]
