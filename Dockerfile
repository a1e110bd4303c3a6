# syntax=docker/dockerfile:1
# The image of every GreenLang Orchestration process in docker-compose.yml: the worker, the
# registry service, the Kafka -> Temporal bridge, agents, and the one-shot migration.
#   docker build -t greenlang-orchestration .
#   docker run --rm greenlang-orchestration --help
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# A fixed, unprivileged uid: volumes written by one container stay writable by the others.
RUN groupadd --system --gid 10001 orchestration \
    && useradd --system --uid 10001 --gid orchestration --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin orchestration

# The library is installed as a regular (non-editable) package from a copy of the sources,
# which is removed afterwards: the code that runs is the installed one, never a checkout.
WORKDIR /src
COPY pyproject.toml README.md ./
COPY orchestration/ orchestration/
COPY bus/ bus/
COPY registry/ registry/
COPY workflows/ workflows/
COPY activities/ activities/
COPY swarm/ swarm/
COPY workers/ workers/
RUN pip install . && rm -rf /src

# The examples are not part of the package: `orchestration agent examples.hello_agent:agent`
# imports them from the working directory, as it does in a checkout.
WORKDIR /app
COPY examples/ examples/

# State (bytecode cache, the CSRD example's files) lives outside the code, owned by the user;
# a named volume mounted here inherits that ownership.
RUN mkdir -p /var/lib/orchestration && chown orchestration:orchestration /var/lib/orchestration
ENV ORCH_STATE_DIR=/var/lib/orchestration \
    ORCH_METRICS_HOST=0.0.0.0

USER orchestration
ENTRYPOINT ["orchestration"]
CMD ["--help"]
