import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
# oneDNN fuses ops differently in eager and graph mode; with it off, the
# exported SavedModel and the Python generator agree bit for bit.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
