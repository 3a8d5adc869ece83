// What a model's convolutional layers hold and see: a grid of a conv layer's kernels, and the
// feature maps every conv and pooling layer produces for chosen test images (the course's
// notebook view), both as figures.
#ifndef KILN_FRONTEND_VIZ_NETWORK_VIEWS_H_
#define KILN_FRONTEND_VIZ_NETWORK_VIEWS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "frontend/datasets.h"
#include "frontend/model.h"
#include "frontend/viz/figure.h"

namespace kiln::viz {

// The names of the model's Conv2D layers, in order.
absl::StatusOr<std::vector<std::string>> ConvLayerNames(const Model& model);

// The kernels of conv layer `layer` (empty: the first one) on a diverging map shared by the
// whole layer. One input channel: a tile per output channel, 8 to a row. Several: a row per
// output channel, a column per input channel. `channels` picks output channels (empty: all of
// them for one input channel, the first 16 otherwise). Errors list the conv layers.
absl::StatusOr<Figure> FiltersFigure(const Model& model, const std::string& layer,
                                     const std::vector<int64_t>& channels);

// Runs the forward graph on the reference interpreter over the test images `indices` of
// `data` and shows, for each image and each of `channels`, the output of every conv and
// pooling layer: a row per (image, channel), a column per layer, each (layer, channel) on one
// viridis scale across the images. `data_name` ("mnist") is for titles and errors.
absl::StatusOr<Figure> ActivationsFigure(const Model& model, const Dataset& data,
                                         const std::string& data_name,
                                         const std::vector<int64_t>& indices,
                                         const std::vector<int64_t>& channels);

}  // namespace kiln::viz

#endif  // KILN_FRONTEND_VIZ_NETWORK_VIEWS_H_
