#!/usr/bin/env bash
# Serves the exported generator with a native TF Serving binary.
#
#   MODEL_BASE_PATH=runs/demo/export/fashion_t2i serving/run_tf_serving.sh
#
# Environment (all optional):
#   MODEL_BASE_PATH           <base>/fashion_t2i holding version dirs 1/, 2/, ...;
#                             replaces base_path of models.config (else it is kept)
#   MODEL_CONFIG_FILE         default: models.config next to this script
#   BATCHING_PARAMETERS_FILE  default: batching_parameters.txt next to this script
#   GRPC_PORT (8500)  REST_PORT (8501)  POLL_SECONDS (2)
# Extra arguments go to tensorflow_model_server. It listens on all interfaces;
# firewall the ports if the machine is reachable from outside.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
GRPC_PORT="${GRPC_PORT:-8500}"
REST_PORT="${REST_PORT:-8501}"
POLL_SECONDS="${POLL_SECONDS:-2}"
MODEL_CONFIG_FILE="${MODEL_CONFIG_FILE:-$here/models.config}"
BATCHING_PARAMETERS_FILE="${BATCHING_PARAMETERS_FILE:-$here/batching_parameters.txt}"

if ! command -v tensorflow_model_server >/dev/null 2>&1; then
  echo "tensorflow_model_server is not on PATH. Use serving/run_docker.sh, or" \
       "'python -m serving.server --model_base_path <base>/fashion_t2i' without TF Serving." >&2
  exit 1
fi

if [[ -n "${MODEL_BASE_PATH:-}" ]]; then
  if [[ ! -d "$MODEL_BASE_PATH" ]]; then
    echo "MODEL_BASE_PATH=$MODEL_BASE_PATH is not a directory; point it at <base>/fashion_t2i." >&2
    exit 1
  fi
  config="$(mktemp --suffix=.models.config)"
  sed "s|base_path: \".*\"|base_path: \"$(realpath "$MODEL_BASE_PATH")\"|" "$MODEL_CONFIG_FILE" >"$config"
  MODEL_CONFIG_FILE="$config"
fi

exec tensorflow_model_server \
  --port="$GRPC_PORT" \
  --rest_api_port="$REST_PORT" \
  --model_config_file="$MODEL_CONFIG_FILE" \
  --enable_batching=true \
  --batching_parameters_file="$BATCHING_PARAMETERS_FILE" \
  --file_system_poll_wait_seconds="$POLL_SECONDS" \
  "$@"
