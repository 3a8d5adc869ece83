// The two forms of layers that behave differently in training: Dropout (the identity outside
// training; a random mask in it) and BatchNormalization (moving statistics outside training;
// batch statistics and moving-average updates in it). Layers emit one op each (Dropout,
// BatchNorm); Model::Build rewrites them into ordinary ops for the form it is asked for, so the
// fusion policy, both backends and the gradients treat them like any other elementwise ops and
// reductions. Saved graphs keep the single ops.
#ifndef KILN_FRONTEND_LAYER_FORMS_H_
#define KILN_FRONTEND_LAYER_FORMS_H_

#include "absl/status/status.h"
#include "ir/graph.h"

namespace kiln {

// Each BatchNorm becomes x * scale + shift with scale = gamma / sqrt(moving_variance + epsilon)
// and shift = beta - moving_mean * scale, per channel (the form that folds into a preceding
// layer's epilogue). Dropout stays: outside training it is an alias of its input.
absl::Status LowerForInference(Graph& g);

// Each Dropout becomes x * DropoutMask(dropout/step) and each BatchNorm normalizes with the
// batch's mean and (biased) variance over every axis but the last, as Keras does, and assigns
// moving = moving * momentum + batch * (1 - momentum) to its moving statistics. The step counter
// "dropout/step" is a non-trainable Parameter, counted up once per step.
absl::Status LowerForTraining(Graph& g);

}  // namespace kiln

#endif  // KILN_FRONTEND_LAYER_FORMS_H_
