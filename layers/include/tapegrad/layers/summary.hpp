// SPDX-License-Identifier: MIT
#pragma once
// tg::summary: a model's layers as torchinfo.summary lists them, from one forward pass.
//   tg::Sequential net{...};
//   fmt::print("{}", tg::summary(net, tg::zeros({1, 1, 28, 28})).str());
// prints one row per module in the order the forward pass calls them (its place in the tree,
// type and name, output shape, parameter count), then the totals:
//   ================================================
//   Layer (type: name)    Output Shape       Param #
//   ================================================
//   Sequential            [1, 10]            --
//   ├─Conv2D: 0           [1, 6, 28, 28]     156
//   ├─Sigmoid: 1          [1, 6, 28, 28]     --
//   ...
//   ├─Linear: 11          [1, 10]            850
//   ================================================
//   Total params: 61,706
//   Trainable params: 61,706
//   Non-trainable params: 0
//   ================================================
//   Input size (MB): 0.00
//   Forward/backward pass size (MB): 0.12
//   Params size (MB): 0.25
//   Estimated Total Size (MB): 0.37
//   ================================================
// Nested modules are drawn as torchinfo draws them ("│    └─Linear: blocks.0.mlp.0").
// The forward pass runs as torchinfo's default does: without recording a tape (NoGradGuard)
// and in evaluation mode (so BatchNorm's running statistics and Dropout's generator are left
// alone), each module's mode restored afterwards. It watches the modules through forward
// pre-hooks and forward hooks, which it removes afterwards, also when the forward throws.
#include <cstdint>
#include <functional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "tapegrad/layers/module.hpp"
#include "tapegrad/shape.hpp"
#include "tapegrad/tensor.hpp"

namespace tg {

struct SummaryRow {
  std::string name;  // the dotted name in the model ("" for the model itself), as named_modules()
  std::string type;  // Module::type_name()
  int depth = 0;     // 0 for the model, 1 for its children, ...
  // Whether the forward pass called the module through its call operator (so that hooks saw
  // it). A module whose forward() its parent calls directly is listed anyway, at its place in
  // the tree, with no output shapes.
  bool called = false;
  std::vector<Shape> output_shapes;  // every output tensor's shape, in order (hooks' outputs)
  std::int64_t output_bytes = 0;     // the bytes of those outputs
  // The parameters registered on this module itself (not its children's): all of them and
  // those that require grad. A module called again (a shared layer) gets a row per call; the
  // later rows are `recursive` and their parameters are counted at the first.
  std::int64_t params = 0, trainable_params = 0;
  bool recursive = false;
  bool has_children = false;
};

struct ModelSummary {
  std::vector<SummaryRow> rows;
  // Over the model's distinct parameters (a tied weight counts once), as torchinfo's totals.
  std::int64_t total_params = 0, trainable_params = 0, non_trainable_params = 0;
  std::int64_t params_bytes = 0;      // numel times element size, over the same parameters
  std::int64_t input_bytes = 0;       // the model's input tensors (when its call operator ran)
  std::int64_t activation_bytes = 0;  // the outputs of the called modules without children
  // torchinfo's sizes, in MB (10^6 bytes): the activations are counted twice, for their
  // gradients in a training step.
  double input_size_mb() const { return static_cast<double>(input_bytes) / 1e6; }
  double forward_backward_size_mb() const { return 2.0 * static_cast<double>(activation_bytes) / 1e6; }
  double params_size_mb() const { return static_cast<double>(params_bytes) / 1e6; }
  double total_size_mb() const { return input_size_mb() + forward_backward_size_mb() + params_size_mb(); }
  // The table above, ending in a newline.
  std::string str() const;
};

namespace detail {
ModelSummary summarize(Module& model, const std::function<TensorList()>& forward);
}  // namespace detail

// The summary of model(example_input).
ModelSummary summary(Module& model, const Tensor& example_input);

// The summary of whatever forward pass `forward` runs on `model` (a callable with no
// arguments): for models called with token ids and a state, several inputs, or a method other
// than operator(). What it returns (nothing, a Tensor, or anything for_each_tensor walks)
// gives the model's own row its output shapes when the model's call operator did not run:
//   tg::summary(lm, [&] { return lm.logits(ids, state); });
template <class F>
requires std::is_invocable_v<F&> ModelSummary summary(Module& model, F&& forward) {
  return detail::summarize(model, [&]() -> TensorList {
    if constexpr (std::is_void_v<std::invoke_result_t<F&>>) {
      forward();
      return {};
    } else {
      auto result = forward();
      TensorList outputs;
      for_each_tensor(result, [&](Tensor& t) { outputs.push_back(t); });
      return outputs;
    }
  });
}

}  // namespace tg
