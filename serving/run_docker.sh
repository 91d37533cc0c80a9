#!/usr/bin/env bash
# Serves the exported generator with the official TF Serving docker image.
#
#   MODEL_BASE_PATH=runs/demo/export/fashion_t2i serving/run_docker.sh
#
# Environment:
#   MODEL_BASE_PATH   required: <base>/fashion_t2i holding version dirs 1/, 2/, ...
#   TF_SERVING_IMAGE  default tensorflow/serving:2.21.0; use the TensorFlow
#                     version that exported the model (or newer)
#   PUBLISH_HOST      host interface for the ports, default 127.0.0.1 (0.0.0.0: all)
#   GRPC_PORT (8500)  REST_PORT (8501)  POLL_SECONDS (2)
# Extra arguments go to tensorflow_model_server.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
: "${MODEL_BASE_PATH:?set MODEL_BASE_PATH to <base>/fashion_t2i, the directory holding version dirs 1/, 2/, ...}"
TF_SERVING_IMAGE="${TF_SERVING_IMAGE:-tensorflow/serving:2.21.0}"
PUBLISH_HOST="${PUBLISH_HOST:-127.0.0.1}"
GRPC_PORT="${GRPC_PORT:-8500}"
REST_PORT="${REST_PORT:-8501}"
POLL_SECONDS="${POLL_SECONDS:-2}"

if [[ ! -d "$MODEL_BASE_PATH" ]]; then
  echo "MODEL_BASE_PATH=$MODEL_BASE_PATH is not a directory; point it at <base>/fashion_t2i." >&2
  exit 1
fi

# models.config names /models/fashion_t2i as base_path: the export is mounted there.
exec docker run --rm -t \
  -p "$PUBLISH_HOST:$GRPC_PORT:8500" \
  -p "$PUBLISH_HOST:$REST_PORT:8501" \
  --mount "type=bind,source=$(realpath "$MODEL_BASE_PATH"),target=/models/fashion_t2i,readonly" \
  --mount "type=bind,source=$here/models.config,target=/config/models.config,readonly" \
  --mount "type=bind,source=$here/batching_parameters.txt,target=/config/batching_parameters.txt,readonly" \
  --entrypoint tensorflow_model_server \
  "$TF_SERVING_IMAGE" \
  --port=8500 \
  --rest_api_port=8501 \
  --model_config_file=/config/models.config \
  --enable_batching=true \
  --batching_parameters_file=/config/batching_parameters.txt \
  --file_system_poll_wait_seconds="$POLL_SECONDS" \
  "$@"
