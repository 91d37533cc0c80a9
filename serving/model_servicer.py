"""TF Serving's gRPC ModelService (GetModelStatus) over a ModelLoader."""

import grpc
from tensorflow_serving.apis import get_model_status_pb2
from tensorflow_serving.apis import model_service_pb2_grpc

from serving.serving_error import ServingError
from serving.serving_error import answer_grpc
from serving.serving_error import invalid_argument


class ModelServicer(model_service_pb2_grpc.ModelServiceServicer):
    """Answers GetModelStatus like TF Serving's `GetModelStatusImpl`.

    Every loaded version is AVAILABLE with status OK. A version that is not
    loaded is NOT_FOUND (`Could not find version <v> of model <name>`), as is
    a model name other than the served one (`Could not find any versions of
    model <name>`). HandleReloadConfigRequest stays UNIMPLEMENTED: the model
    is set on the command line.

    Args:
        loader: the `ModelLoader` holding the served versions.
        metrics: a `ServingMetrics` counting the requests, or None.
    """

    def __init__(self, loader, metrics=None):
        self.loader = loader
        self.metrics = metrics

    def GetModelStatus(self, request, context):
        """Returns the state of one version, or of every loaded version."""
        return answer_grpc(self.model_status, request, context, "GetModelStatus", self.metrics)

    def model_status(self, request):
        """The `GetModelStatusResponse` for `request`.

        Raises:
            ServingError: INVALID_ARGUMENT without a model spec or with a
                version label; NOT_FOUND for an unknown model or version.
        """
        if not request.HasField("model_spec"):
            raise invalid_argument("Missing ModelSpec")
        model_spec = request.model_spec
        if model_spec.WhichOneof("version_choice") == "version_label":
            raise invalid_argument(
                "ModelSpec has 'version_label' set, but it is not currently allowed by the server."
            )
        served = self.loader.versions() if model_spec.name == self.loader.model_name else []
        if model_spec.HasField("version"):
            version = model_spec.version.value
            if version not in served:
                raise ServingError(
                    grpc.StatusCode.NOT_FOUND,
                    f"Could not find version {version} of model {model_spec.name}. Loaded versions "
                    f"of '{self.loader.model_name}': {self.loader.versions()}.",
                )
            versions = [version]
        elif not served:
            raise ServingError(
                grpc.StatusCode.NOT_FOUND,
                f"Could not find any versions of model {model_spec.name}. This server serves model "
                f"'{self.loader.model_name}', loaded versions: {self.loader.versions()}.",
            )
        else:
            versions = served
        response = get_model_status_pb2.GetModelStatusResponse()
        for version in versions:
            status = response.model_version_status.add()
            status.version = version
            status.state = get_model_status_pb2.ModelVersionStatus.AVAILABLE
            status.status.SetInParent()  # error_code OK, as TF Serving reports a healthy version
        return response
