"""Runtime vision on real photos: pretrained detectors from an npm package, run in torch."""
