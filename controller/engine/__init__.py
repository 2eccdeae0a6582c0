"""The engine stage: the Pulumi CLI the Automation API drives, and the targets it deploys to
(Azure through pulumi-azure-native, or the local simulation in `local`)."""
