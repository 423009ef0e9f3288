"""Every size limit percepta checks before work, in one place (no imports: the CLI, the server and the light
path read them). A size that comes from the user or from a file is checked against these up front, so that
memory is bounded before any pixel is decoded or any tensor is allocated; each refusal is a one-line error.
The README's bad-input table lists them."""

#: width x height of an image (or a video frame), checked from its header before it is decoded
MAX_PIXELS = 64_000_000
#: pixels of one untiled forward pass (the style network's activations must fit); larger images are tiled
MAX_INFERENCE_PIXELS = 16_000_000
#: pixels of a result (100 MP is 1.2 GB as float32, e.g. a 2500 x 2500 photo at x4)
MAX_OUTPUT_PIXELS = 100_000_000
#: training crop side (``--size``): the paper's are 256 (style) and 288 (SR); 2048 px crops in batches of 4
#: already need ~20 GB for the VGG-16 loss network's activations
MAX_TRAIN_SIZE = 2048
#: longer side of the painting in training and ``optimize`` (``--style-size``; the authors' largest is 512)
MAX_STYLE_SIZE = 4096
#: ``style_scale`` (``--style-scale``, the page's motif size): motifs from a quarter to four times the size the
#: model paints at; the network then runs on the image shrunk by it (4: a sixteenth of the pixels)
STYLE_SCALES = (0.25, 4.0)
#: the smallest input side an exported graph may claim to need (its metadata's ``min_side``; percepta's are < 64)
MAX_MIN_SIDE = 1024
