# The GitHub Action's image (action.yml points here). GitHub builds it on the runner
# with this file's directory as the context, which is why it sits at the repository
# root. The entry point reads the Action's inputs (INPUT_*) and the GITHUB_* environment.
# Student code runs in the Docker sandbox when the runner's engine has the sandbox
# image of its language, otherwise in local processes inside this container (the log
# says which).
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    UV_PROJECT_ENVIRONMENT=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    AUTOGRADER_LOG_FORMAT=console

# The toolchains of the languages graded with local processes.
RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc g++ libc6-dev default-jdk-headless nodejs \
    && rm -rf /var/lib/apt/lists/* \
    && pip install --no-cache-dir uv

WORKDIR /app
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --no-install-project
COPY contracts contracts
COPY shared shared
COPY services services
RUN uv sync --frozen --no-dev

ENTRYPOINT ["autograder", "action"]
