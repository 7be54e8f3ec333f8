"""The SageMaker training contract: `train` reads /opt/ml/input and writes /opt/ml/model."""
