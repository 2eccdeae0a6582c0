"""The estate's Pulumi program, as Pulumi's Python language host runs it (`Pulumi.yaml`: `main:
__main__.py`): `pulumi up`, Pulumi Deployments and the Pulumi Kubernetes Operator run this file in the
repository's folder. It is amlctl's own program, the one `amlctl apply` runs inline: the working
directory's manifests and stacks/, rendered for the selected stack and registered."""
from controller.program.entry import main

main()
