"""amlctl: a GitOps controller for Azure Machine Learning."""
__version__ = "0.1.0"
