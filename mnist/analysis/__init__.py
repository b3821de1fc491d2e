"""Looking at data and at a trained network: its mistakes, what it looks at, what happens inside.

- `explore`: the Dataset page's mosaics, per-class statistics and pixel histogram;
- `mistakes`: which test digits a model gets wrong, sorted and filtered to a confusion cell;
  model A vs model B; "not sure: 4 or 9?";
- `inside`: every layer's values, a conv net's feature maps and filters, saliency (of
  ensembles too), first-layer weight tiles, pictures;
- `ensembles`: an ensemble's scores from its members' scores;
- `mydigits`: a drawing read end to end, the user's own labelled digits, fine-tuning on them.

The names are re-exported here for the pages (`import mnist.analysis as an`); inside `mnist/`
import them from their modules.
"""

from mnist.analysis.explore import mosaic
from mnist.analysis.inside import (conv_filters, feature_maps, forward_trace, normalise_tiles,
                                   output_contributions, predict_proba, saliency,
                                   saliency_overlay, to_uint8, upscale, weight_tiles)
from mnist.analysis.mistakes import (SORTS, compare, mistake_table, n_pages, page_of,
                                     uncertainty)
from mnist.analysis.mydigits import (fine_tune, finetune_dataset, my_digits_npz, read_drawing,
                                     read_my_digits, synthetic_drawing)

__all__ = [
    "SORTS", "compare", "conv_filters", "feature_maps", "fine_tune", "finetune_dataset",
    "forward_trace", "mistake_table", "mosaic",
    "my_digits_npz", "n_pages", "normalise_tiles", "output_contributions", "page_of",
    "predict_proba", "read_drawing", "read_my_digits", "saliency", "saliency_overlay",
    "synthetic_drawing", "to_uint8", "uncertainty", "upscale", "weight_tiles",
]
