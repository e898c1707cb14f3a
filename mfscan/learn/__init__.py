"""Learn from the lab's own outlines: train a segmentation model, propose with it.

The optional extra ``mfscan[learn]`` (PyTorch) is needed; it is imported only
inside these modules' functions (:func:`mfscan.learn._torch.require_torch`), so
``import mfscan.learn`` works without it and a missing torch gives the install hint.

* :mod:`~mfscan.learn.dataset`: the training set from sidecars (through the mask
  export), resampled to a fixed mm per pixel, split by subject;
* :mod:`~mfscan.learn.augment`: gain, speckle, small rotations and shifts;
* :mod:`~mfscan.learn.unet`: the compact U-Net (imports torch);
* :mod:`~mfscan.learn.train`: the training loop and the model folder;
* :mod:`~mfscan.learn.predict`: outlines from a trained model
  (:func:`~mfscan.learn.predict.predict_outlines`);
* :mod:`~mfscan.learn.card`: the model card ``model.json`` and the model id;
* :mod:`~mfscan.learn.ood`: the training images' reference kept in the card and each
  prediction's flags (low confidence, out of distribution, side position, size).
"""
