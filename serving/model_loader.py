"""Loads the newest versions of one model from its base path, polling for new ones."""

import logging
import os
import re
import threading

from serving.loaded_model import SAVED_MODEL_FILE
from serving.loaded_model import LoadedModel

logger = logging.getLogger(__name__)

# TF Serving's FileSystemStoragePathSource treats every child directory whose
# name parses as an integer as a version.
_VERSION_DIR = re.compile(r"^[0-9]+$")


class ModelLoader:
    """Keeps the `num_versions` newest versions of one model loaded.

    Mirrors TF Serving's file system polling with the model version policy
    `latest { num_versions: N }`: every `poll()` lists `<model_base_path>/<n>/`,
    loads aspired versions that are not loaded yet and then unloads versions
    that are no longer aspired. A version directory counts only once its
    `saved_model.pb` exists (the exporter writes it last), so a half-written
    export is skipped until complete. A version that fails to load is retried
    only after its files change. Unaspired versions are unloaded only once an
    aspired one is available, so a broken new export never leaves the model
    without a servable (TF Serving's availability-preserving policy).

    Requests only ever look versions up in memory by the one configured
    `model_name`; a request can never make the loader touch the file system.

    Args:
        model_base_path: `<base>/<model_name>`, the directory holding the
            numbered version directories.
        model_name: the one name this loader answers to.
        num_versions: how many of the newest versions stay loaded.

    Raises:
        ValueError: `model_name` is empty or `num_versions` < 1.
    """

    def __init__(self, model_base_path, model_name, num_versions=1):
        if not model_name:
            raise ValueError("model_name must be a non-empty string, e.g. 'fashion_t2i'.")
        if num_versions < 1:
            raise ValueError(f"num_versions must be >= 1, got {num_versions}.")
        self.model_base_path = model_base_path
        self.model_name = model_name
        self.num_versions = num_versions
        self._lock = threading.Lock()
        self._poll_lock = threading.Lock()
        self._loaded = {}
        self._failed_fingerprints = {}
        self._stop = threading.Event()
        self._thread = None

    def versions(self):
        """Returns the loaded version numbers, ascending."""
        with self._lock:
            return sorted(self._loaded)

    def servable(self, model_name, version=None):
        """Looks a loaded version up, as TF Serving resolves a `ModelSpec`.

        Args:
            model_name: the requested model name.
            version: a version number, or None for the newest loaded one.

        Returns:
            The `LoadedModel`, or None when the name is not this model's or
            the version is not loaded.
        """
        if model_name != self.model_name:
            return None
        with self._lock:
            if version is None:
                return self._loaded[max(self._loaded)] if self._loaded else None
            return self._loaded.get(version)

    def poll(self):
        """Loads new aspired versions and unloads the ones no longer aspired.

        Returns:
            The version numbers loaded by this call.
        """
        with self._poll_lock:
            complete = self._complete_versions()
            aspired = sorted(complete)[-self.num_versions :]
            newly_loaded = {}
            for version in reversed(aspired):
                if version in self._loaded:
                    continue
                model = self._try_load(version, complete[version])
                if model is not None:
                    newly_loaded[version] = model
            with self._lock:
                self._loaded.update(newly_loaded)
                if any(version in self._loaded for version in aspired):
                    for version in [v for v in self._loaded if v not in aspired]:
                        del self._loaded[version]
                        logger.info("Unloaded %s version %d.", self.model_name, version)
            return sorted(newly_loaded)

    def start_polling(self, poll_seconds):
        """Calls `poll()` every `poll_seconds` in a daemon thread.

        Args:
            poll_seconds: the wait between polls, > 0.

        Raises:
            ValueError: `poll_seconds` <= 0.
            RuntimeError: already polling.
        """
        if poll_seconds <= 0:
            raise ValueError(f"poll_seconds must be > 0, got {poll_seconds}.")
        if self._thread is not None:
            raise RuntimeError("ModelLoader is already polling; call stop_polling() first.")
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._poll_loop, args=(poll_seconds,), name=f"poll-{self.model_name}", daemon=True
        )
        self._thread.start()

    def stop_polling(self, timeout=None):
        """Stops the polling thread (a load in progress finishes first).

        Args:
            timeout: seconds to wait for the thread, None to wait until done.
        """
        if self._thread is None:
            return
        self._stop.set()
        self._thread.join(timeout)
        self._thread = None

    def unload_all(self):
        """Drops every loaded version."""
        with self._lock:
            self._loaded.clear()

    def _poll_loop(self, poll_seconds):
        while not self._stop.wait(poll_seconds):
            try:
                self.poll()
            except Exception:  # A poll must never end the thread.
                logger.exception("Polling %s failed; retrying in %ss.", self.model_base_path, poll_seconds)

    def _complete_versions(self):
        """Returns {version: path} for version directories with saved_model.pb."""
        try:
            names = os.listdir(self.model_base_path)
        except OSError as error:
            logger.error(
                "Cannot list model base path %s (%s); create it and export a version into "
                "<base>/%s/<version>/.",
                self.model_base_path,
                error,
                self.model_name,
            )
            return {}
        complete = {}
        for name in names:
            path = os.path.join(self.model_base_path, name)
            if not _VERSION_DIR.match(name) or not os.path.isdir(path):
                continue
            if os.path.isfile(os.path.join(path, SAVED_MODEL_FILE)):
                complete[int(name)] = path
            else:
                logger.debug("Skipping %s: no %s yet.", path, SAVED_MODEL_FILE)
        return complete

    def _try_load(self, version, path):
        fingerprint = _directory_fingerprint(path)
        if self._failed_fingerprints.get(version) == fingerprint:
            return None
        logger.info("Loading %s version %d from %s.", self.model_name, version, path)
        try:
            model = LoadedModel.load(path, version)
        except Exception as error:  # Any broken export must leave the server running.
            self._failed_fingerprints[version] = fingerprint
            logger.error(
                "Loading %s version %d from %s failed (%s: %s); it is retried when its files change.",
                self.model_name,
                version,
                path,
                type(error).__name__,
                error,
            )
            return None
        self._failed_fingerprints.pop(version, None)
        logger.info("Loaded %s version %d.", self.model_name, version)
        return model


def _directory_fingerprint(path):
    """Returns (relative path, size, mtime) of every file under `path`."""
    entries = []
    for root, _, files in os.walk(path):
        for name in files:
            full = os.path.join(root, name)
            try:
                stat = os.stat(full)
            except OSError:
                continue
            entries.append((os.path.relpath(full, path), stat.st_size, stat.st_mtime_ns))
    return tuple(sorted(entries))
