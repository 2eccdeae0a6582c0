"""Adopting an existing Azure ML estate: `amlctl import`.

    read (MLClient list/get: controller.adopt.reader)        I/O
      -> clean (what az ml shows -> a bare az ml file)        pure   (clean)
      -> place (a path under manifests/ per object)           pure   (layout)
      -> write (never over an existing file)                  I/O    (layout)
      -> match (render the written files; each resource
         to the ARM id it would have)                         pure   (matching)
      -> record (Pulumi import into the stack's state)        I/O    (record)

On the local target, MLClient reads the simulation through an azure-core transport
(controller.adopt.simhttp) that answers with azure-ai-ml's own REST models.
"""
