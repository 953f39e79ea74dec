"""The networks: MLPs with the tricks' plug-in layers (:mod:`.mlp`), DCGAN (:mod:`.dcgan`), a generator
imported as TorchScript (:mod:`.scripted`), the StackGAN text encoder (:mod:`.text`); :mod:`.build`
picks G and D for a config."""
