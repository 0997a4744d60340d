// SPDX-License-Identifier: MIT
// Bad input to every public entry point: each row of the table makes one bad call and names
// the tg:: exception it must throw and the pieces its message must contain: the op (or
// file), the offending shape or value as printed, and a phrase of the fix.
#include <functional>
#include <limits>
#include <string>
#include <typeinfo>
#include <vector>

#include "data/idx_test_util.hpp"
#include "test_util.hpp"

namespace {

using tg::Tensor;

enum class Kind { Shape, Value, Io, Autograd };

struct BadInput {
  std::string entry;                  // the public entry point called
  std::function<void()> call;         // the bad call
  Kind kind;                          // the exception it must throw
  std::vector<std::string> contains;  // op name, offending shape/value text, fix phrase
};

const char* kind_name(Kind k) {
  switch (k) {
    case Kind::Shape:
      return "ShapeError";
    case Kind::Value:
      return "ValueError";
    case Kind::Io:
      return "IoError";
    case Kind::Autograd:
      return "AutogradError";
  }
  return "?";
}

bool is_kind(const tg::Error& e, Kind k) {
  switch (k) {
    case Kind::Shape:
      return dynamic_cast<const tg::ShapeError*>(&e) != nullptr;
    case Kind::Value:
      return dynamic_cast<const tg::ValueError*>(&e) != nullptr;
    case Kind::Io:
      return dynamic_cast<const tg::IoError*>(&e) != nullptr;
    case Kind::Autograd:
      return dynamic_cast<const tg::AutogradError*>(&e) != nullptr;
  }
  return false;
}

// A module that registers names it is given, to reach Module's protected registration.
struct Registrar : tg::Module {
  void parameter(const std::string& name) { register_parameter(name, tg::zeros({1})); }
};

Tensor leaf(const tg::Shape& s) { return tg::ones(s, {.requires_grad = true}); }
Tensor ones(const tg::Shape& s) { return tg::ones(s); }

constexpr std::int64_t kHuge = std::int64_t{1} << 40;  // kHuge * kHuge overflows int64
const double kNaN = std::numeric_limits<double>::quiet_NaN();

std::vector<BadInput> table(const tg::test::TempDir& dir, const tg::FashionMNIST& fmnist) {
  using K = Kind;
  const std::string missing = dir.file("missing.bin");
  const std::string no_dir = dir.file("no/such/dir/out.bin");
  return {
      // ---- Shape and the tensor factories ----
      {"Shape",
       [] {
         tg::Shape({2, -1});
       },
       K::Shape,
       {"Shape", "negative size -1", "must be >= 0"}},
      {"Shape",
       [] {
         tg::Shape({1, 1, 1, 1, 1, 1, 1, 1, 1});
       },
       K::Shape,
       {"Shape", "more than 8", "merge dims"}},
      {"Tensor{...}",
       [] {
         Tensor{{1, 2}, {3}};
       },
       K::Shape,
       {"Tensor", "lengths 2 and 1", "same length"}},
      {"empty",
       [] {
         tg::empty({kHuge, kHuge});
       },
       K::Shape,
       {"empty", "[1099511627776, 1099511627776]", "smaller"}},
      {"zeros",
       [] {
         tg::zeros({kHuge, kHuge});
       },
       K::Shape,
       {"zeros", "1099511627776 x 1099511627776", "smaller"}},
      {"ones",
       [] {
         tg::ones({kHuge, kHuge});
       },
       K::Shape,
       {"ones", "overflows int64", "smaller"}},
      {"full",
       [] {
         tg::full({kHuge, kHuge}, 1);
       },
       K::Shape,
       {"full", "overflows int64", "smaller"}},
      {"randn",
       [] {
         tg::randn({kHuge, kHuge});
       },
       K::Shape,
       {"randn", "overflows int64", "smaller"}},
      {"rand",
       [] {
         tg::rand({kHuge, kHuge});
       },
       K::Shape,
       {"rand", "overflows int64", "smaller"}},
      {"empty bytes",
       [] { tg::empty({std::int64_t{1} << 62}); },
       K::Shape,
       {"empty", "[4611686018427387904]", "smaller"}},
      {"from_vector",
       [] {
         tg::from_vector({1, 2, 3}, {2, 2});
       },
       K::Shape,
       {"from_vector", "3 values", "pass 4 values"}},
      {"from_vector",
       [] {
         tg::from_vector(std::vector<double>{}, {kHuge, kHuge});
       },
       K::Shape,
       {"from_vector", "overflows", "smaller"}},
      {"arange", [] { tg::arange(0, 1, 0); }, K::Value, {"arange", "(0, 1, 0)", "non-zero step"}},
      {"arange", [] { tg::arange(0, 3, -1); }, K::Value, {"arange", "step -1", "flip its sign"}},
      {"arange", [] { tg::arange(0, 1e30); }, K::Value, {"arange", "1e+30", "larger step"}},
      // ---- Tensor methods ----
      {"Tensor()", [] { Tensor().shape(); }, K::Value, {"Tensor", "undefined", "assign a tensor"}},
      {"size",
       [] {
         ones({2, 3}).size(2);
       },
       K::Value,
       {"size", "dim 2", "use a dim in [-2, 1]"}},
      {"item", [] { ones({2}).item(); }, K::Value, {"item", "[2]", "reduce it with sum()"}},
      {"at",
       [] {
         ones({2, 3}).at({1});
       },
       K::Value,
       {"at", "[2, 3]", "one index per dim"}},
      {"at",
       [] {
         ones({2, 3}).at({1, 5});
       },
       K::Value,
       {"at", "index 5", "use an index in [-3, 3)"}},
      {"data", [] { ones({2}).data<double>(); }, K::Value, {"data", "float32", "use data<float>()"}},
      {"requires_grad_",
       [] { (leaf({2}) * 2.0).requires_grad_(false); },
       K::Autograd,
       {"requires_grad_", "mul", "detach()"}},
      {"set_grad",
       [] { leaf({3}).set_grad(ones({2})); },
       K::Shape,
       {"set_grad", "[2]", "pass a gradient of shape [3]"}},
      {"retain_grad", [] { ones({3}).retain_grad(); }, K::Autograd, {"retain_grad", "[3]", "requires_grad_()"}},
      {"register_hook",
       [] { ones({3}).register_hook([](const Tensor& g) { return g; }); },
       K::Autograd,
       {"register_hook", "[3]", "call requires_grad_()"}},
      {"register_hook",
       [] { leaf({3}).register_hook(nullptr); },
       K::Value,
       {"register_hook", "empty", "pass a function"}},
      {"remove_hook", [] { leaf({3}).remove_hook(7); }, K::Value, {"remove_hook", "handle 7", "use the value"}},
      {"fill_", [] { leaf({3}).fill_(1); }, K::Autograd, {"fill_", "[3]", "NoGradGuard"}},
      {"copy_",
       [] {
         ones({2, 3}).copy_(ones({4}));
       },
       K::Shape,
       {"copy_", "[4]", "reshape"}},
      {"copy_",
       [] {
         ones({3}).copy_(ones({2, 3}));
       },
       K::Shape,
       {"copy_", "[2, 3]", "reshape"}},
      {"index_put_",
       [] {
         ones({2}).index_put_({tg::Slice(), tg::Slice()}, 0);
       },
       K::Value,
       {"index_put_", "2 slices", "at most one per dim"}},
      {"index_put_",
       [] {
         ones({4}).index_put_({tg::Slice{0, 4, 0}}, 0);
       },
       K::Value,
       {"index_put_", "got 0", "use a step >= 1"}},
      {"backward", [] { ones({2}).backward(); }, K::Autograd, {"backward", "[2]", "requires_grad"}},
      {"backward", [] { (leaf({2}) * 2.0).backward(); }, K::Autograd, {"backward", "[2]", "pass a seed"}},
      {"backward",
       [] { (leaf({2}) * 2.0).backward(ones({3})); },
       K::Shape,
       {"backward", "[3]", "pass a seed of shape [2]"}},
      // ---- arithmetic, elementwise functions, reductions ----
      // ---- broadcasting, matmul, shape ops ----
      {"broadcast_shapes",
       [] {
         tg::broadcast_shapes("op", {2, 3}, {3, 2});
       },
       K::Shape,
       {"op", "[2, 3] and [3, 2]", "reshape"}},
      {"transpose",
       [] {
         tg::transpose(ones({2, 3}), 0, 2);
       },
       K::Value,
       {"transpose", "dim 2", "use a dim in"}},
      // ---- corr2d and conv2d ----
      {"corr2d_backward_input",
       [] {
         tg::corr2d_backward_input(ones({3}), ones({2, 2}));
       },
       K::Shape,
       {"corr2d_backward_input", "[3]", "reshape it"}},
      {"corr2d_backward_kernel",
       [] {
         tg::corr2d_backward_kernel(ones({2, 2}), ones({3, 3}));
       },
       K::Shape,
       {"corr2d_backward_kernel", "[3, 3] is larger than X [2, 2]", "corr2d's output shape"}},
      {"conv2d_backward_input",
       [] {
         tg::conv2d_backward_input(ones({1, 2, 4, 4}), ones({2, 1, 3, 3}), {1, 1, 5, 5}, {});
       },
       K::Shape,
       {"conv2d_backward_input", "[1, 2, 4, 4]", "[1, 2, 3, 3]"}},
      {"conv2d_backward_weight",
       [] {
         tg::conv2d_backward_weight(ones({1, 1, 5, 5}), ones({1, 2, 4, 4}), {2, 1, 3, 3}, {});
       },
       K::Shape,
       {"conv2d_backward_weight", "[1, 2, 4, 4]", "[1, 2, 3, 3]"}},
      {"set_conv2d_algorithm",
       [] { tg::set_conv2d_algorithm(static_cast<tg::Conv2dAlgorithm>(42)); },
       K::Value,
       {"set_conv2d_algorithm", "42", "use automatic"}},
      // ---- pooling and flatten ----
      {"flatten",
       [] {
         tg::flatten(ones({2, 3, 4}), 2, 1);
       },
       K::Value,
       {"flatten", "start_dim 2 comes after end_dim 1", "swap them"}},
      {"flatten",
       [] {
         tg::flatten(ones({2, 3}), 3);
       },
       K::Value,
       {"flatten", "dim 3", "use a dim in"}},
      // ---- softmax and losses ----
      {"cross_entropy(span)",
       [] {
         std::vector<std::int64_t> t{-1};
         tg::cross_entropy(ones({1, 3}), t);
       },
       K::Value,
       {"cross_entropy", "target -1", "[0, 3)"}},
      // ---- batch_norm and dropout ----
      // ---- init ----
      {"fan_in_and_fan_out",
       [] { tg::fan_in_and_fan_out(ones({3})); },
       K::Shape,
       {"fan_in_and_fan_out", "[3]", "fill_ or rand"}},
      {"xavier_uniform_",
       [] {
         Tensor t = ones({3});
         tg::xavier_uniform_(t, tg::default_generator());
       },
       K::Shape,
       {"xavier_uniform_", "[3]", "fill_ or rand"}},
      {"xavier_normal_",
       [] {
         Tensor t = tg::scalar(1);
         tg::xavier_normal_(t, tg::default_generator());
       },
       K::Shape,
       {"xavier_normal_", "[]", "fill_ or rand"}},
      {"kaiming_uniform_",
       [] {
         Tensor t = ones({3});
         tg::kaiming_uniform_(t, tg::default_generator());
       },
       K::Shape,
       {"kaiming_uniform_", "[3]", "fill_ or rand"}},
      {"kaiming_normal_",
       [] {
         Tensor t = ones({3});
         tg::kaiming_normal_(t, tg::default_generator());
       },
       K::Shape,
       {"kaiming_normal_", "[3]", "fill_ or rand"}},
      // ---- gradcheck and adjoint_check ----
      {"adjoint_check",
       [] { tg::adjoint_check(nullptr, {ones({2})}); },
       K::Value,
       {"adjoint_check", "f is empty", "pass a function"}},
      {"adjoint_check",
       [] { tg::adjoint_check([](const std::vector<Tensor>& v) { return v[0]; }, {}); },
       K::Value,
       {"adjoint_check", "no inputs", "pass the tensors"}},
      {"adjoint_check",
       [] { tg::adjoint_check([](const std::vector<Tensor>& v) { return v[0]; }, {ones({2})}, {.eps = -1}); },
       K::Value,
       {"adjoint_check", "-1", "the default 1e-6"}},
      {"gradcheck",
       [] { tg::gradcheck(nullptr, {ones({2})}); },
       K::Value,
       {"gradcheck", "f is empty", "pass a function"}},
      {"gradcheck",
       [] { tg::gradcheck([](const std::vector<Tensor>& v) { return v[0]; }, {}); },
       K::Value,
       {"gradcheck", "no inputs", "pass the tensors"}},
      {"gradcheck",
       [] { tg::gradcheck([](const std::vector<Tensor>& v) { return v[0]; }, {ones({2})}, {.eps = 0}); },
       K::Value,
       {"gradcheck", "got 0", "the default 1e-6"}},
      {"gradcheck",
       [] { tg::gradcheck([](const std::vector<Tensor>& v) { return v[0]; }, {Tensor()}); },
       K::Value,
       {"gradcheck", "input 0 is undefined", "pass a tensor"}},
      // ---- files ----
      {"load_npy", [missing] { tg::load_npy(missing); }, K::Io, {"missing.bin"}},
      {"save_npy", [no_dir] { tg::save_npy(ones({2}), no_dir); }, K::Io, {"out.bin"}},
      {"load_safetensors", [missing] { tg::load_safetensors(missing); }, K::Io, {"missing.bin"}},
      {"save_safetensors",
       [no_dir] {
         tg::save_safetensors({{"a", ones({1})}, {"a", ones({1})}}, no_dir);
       },
       K::Value,
       {"save_safetensors", "'a'", "unique"}},
      {"read_idx_images", [missing] { tg::read_idx_images(missing); }, K::Io, {"missing.bin"}},
      {"read_idx_labels", [missing] { tg::read_idx_labels(missing); }, K::Io, {"missing.bin"}},
      {"write_file_atomic", [no_dir] { tg::write_file_atomic(no_dir, "x"); }, K::Io, {"out.bin"}},
      // ---- layers ----
      {"Linear", [] { tg::Linear(0, 3); }, K::Value, {"Linear", "got 0 and 3", "pass sizes >= 1"}},
      {"Linear::forward",
       [] {
         tg::Linear(4, 3)(ones({2, 5}));
       },
       K::Shape,
       {"Linear", "[2, 5]", "reshape the input to [..., 4]"}},
      {"Conv2D", [] { tg::Conv2D(tg::Shape{3}); }, K::Shape, {"Conv2D", "[3]", "pass e.g. {3, 3}"}},
      {"Conv2D",
       [] {
         tg::Conv2D(0, 2, {3, 3});
       },
       K::Value,
       {"Conv2D", "got 0 and 2", "pass sizes >= 1"}},
      {"Conv2D",
       [] {
         tg::Conv2D(1, 2, {3, 3}, {0, 1});
       },
       K::Value,
       {"Conv2D", "(0, 1)", "use a stride >= 1"}},
      {"Conv2D",
       [] {
         tg::Conv2D(1, 2, {3, 3}, {1, 1}, {-1, 0});
       },
       K::Value,
       {"Conv2D", "(-1, 0)", "use 0 for no padding"}},
      {"Conv2D::forward",
       [] {
         tg::Conv2D(3, 2, {3, 3})(ones({1, 1, 5, 5}));
       },
       K::Shape,
       {"conv2d", "input has 1 channels but weight expects 3", "[1, 1, 5, 5]"}},
      {"BatchNorm1D", [] { tg::BatchNorm1D(0); }, K::Value, {"BatchNorm1D", "got 0", "number of channels"}},
      {"BatchNorm1D", [] { tg::BatchNorm1D(3, -1.0); }, K::Value, {"BatchNorm1D", "-1", "default is 1e-5"}},
      {"BatchNorm2D", [] { tg::BatchNorm2D(3, 1e-5, 2.0); }, K::Value, {"BatchNorm2D", "got 2", "default is 0.1"}},
      {"BatchNorm1D::forward",
       [] {
         tg::BatchNorm1D(3)(ones({2, 3, 4, 4}));
       },
       K::Shape,
       {"BatchNorm1D", "[2, 3, 4, 4]", "BatchNorm2D"}},
      {"BatchNorm2D::forward",
       [] {
         tg::BatchNorm2D(3)(ones({2, 3}));
       },
       K::Shape,
       {"BatchNorm2D", "[2, 3]", "use BatchNorm1D"}},
      {"BatchNorm2D::forward",
       [] {
         tg::BatchNorm2D(3)(ones({2, 4, 2, 2}));
       },
       K::Shape,
       {"BatchNorm2D", "4 channels", "num_features = 3"}},
      {"Dropout", [] { tg::Dropout(-0.1); }, K::Value, {"Dropout", "-0.1", "[0, 1]"}},
      {"MaxPool2D", [] { tg::MaxPool2D(0); }, K::Value, {"MaxPool2D", "got 0", "pass a window size"}},
      {"MaxPool2D", [] { tg::MaxPool2D(2, 0); }, K::Value, {"MaxPool2D", "got 0", "leave it out"}},
      {"AvgPool2D", [] { tg::AvgPool2D(2, 2, 2); }, K::Value, {"AvgPool2D", "padding 2", "[0, 1]"}},
      {"MaxPool2D::forward",
       [] {
         tg::MaxPool2D(2)(ones({4, 4}));
       },
       K::Shape,
       {"max_pool2d", "[4, 4]", "[1, C, H, W]"}},
      {"Flatten::forward",
       [] {
         tg::Flatten(3)(ones({2, 3}));
       },
       K::Value,
       {"flatten", "dim 3", "use a dim in"}},
      {"ReLU::forward", [] { tg::ReLU()(Tensor()); }, K::Value, {"relu", "undefined", "pass a tensor"}},
      {"Sigmoid::forward", [] { tg::Sigmoid()(Tensor()); }, K::Value, {"sigmoid", "undefined", "pass a tensor"}},
      {"Tanh::forward", [] { tg::Tanh()(Tensor()); }, K::Value, {"tanh", "undefined", "pass a tensor"}},
      {"Sequential",
       [] {
         tg::Sequential s;
         s.push_back(nullptr);
       },
       K::Value,
       {"Sequential", "module 0 is null", "std::make_shared"}},
      {"Sequential[]",
       [] {
         tg::Sequential s{std::make_shared<tg::ReLU>()};
         s[3];
       },
       K::Value,
       {"Sequential", "index 3", "below 1"}},
      {"Module::forward",
       [] {
         tg::Module m;
         m.forward(ones({1}));
       },
       K::Value,
       {"Module", "single-tensor forward(x)", "call it with its own arguments"}},
      {"Module::remove_hook",
       [] { tg::ReLU().remove_hook(5); },
       K::Value,
       {"remove_hook", "handle 5", "use the value"}},
      {"Module::register_forward_hook",
       [] { tg::ReLU().register_forward_hook(nullptr); },
       K::Value,
       {"register_forward_hook", "empty", "pass a function"}},
      {"Module::register_parameter",
       [] {
         Registrar r;
         r.parameter("a.b");
       },
       K::Value,
       {"Module", "'a.b'", "contain no '.'"}},
      {"Module::register_parameter",
       [] {
         Registrar r;
         r.parameter("w");
         r.parameter("w");
       },
       K::Value,
       {"Module", "'w'", "choose another name"}},
      {"load_state_dict",
       [] {
         tg::Linear(2, 3).load_state_dict({{"bias", ones({3})}});
       },
       K::Value,
       {"load_state_dict", "'weight' (shape [3, 2])", "saved from another model"}},
      {"load_state_dict",
       [] {
         tg::Linear(2, 3).load_state_dict({{"weight", ones({2, 3})}, {"bias", ones({3})}});
       },
       K::Shape,
       {"load_state_dict", "[2, 3] in the state but [3, 2]", "same architecture"}},
      {"load_state_dict",
       [] {
         tg::Linear(2, 3).load_state_dict({{"weight", ones({3, 2})}, {"bias", ones({3})}, {"extra", ones({1})}});
       },
       K::Value,
       {"load_state_dict", "'extra'", "remove it"}},
      {"save_module", [no_dir] { tg::save_module(tg::Linear(2, 3), no_dir); }, K::Io, {"out.bin"}},
      {"load_module",
       [missing] {
         tg::Linear l(2, 3);
         tg::load_module(l, missing);
       },
       K::Io,
       {"missing.bin"}},
      // ---- optimizers and schedules ----
      {"SGD", [] { tg::SGD({}, 0.1); }, K::Value, {"SGD", "empty parameter list", "pass model.parameters()"}},
      {"SGD",
       [] { tg::SGD({Tensor()}, 0.1); },
       K::Value,
       {"SGD", "parameter 0 is an undefined", "pass module.parameters()"}},
      {"SGD", [] { tg::SGD({ones({2})}, 0.1); }, K::Value, {"SGD", "[2]", "requires_grad_()"}},
      {"SGD", [] { tg::SGD({leaf({2})}, -0.1); }, K::Value, {"SGD", "-0.1", "finite and >= 0"}},
      {"SGD", [] { tg::SGD({leaf({2})}, kNaN); }, K::Value, {"SGD", "nan", "finite and >= 0"}},
      {"SGD", [] { tg::SGD({leaf({2})}, 0.1, -0.5); }, K::Value, {"SGD", "momentum -0.5", "0 for plain SGD"}},
      {"SGD", [] { tg::SGD({leaf({2})}, 0.1, 0, 0, -1); }, K::Value, {"SGD", "weight_decay -1", "0 for none"}},
      {"SGD", [] { tg::SGD({leaf({2})}, 0.1, 0, 0, 0, true); }, K::Value, {"SGD", "momentum 0", "momentum > 0"}},
      {"Adam",
       [] {
         tg::Adam({leaf({2})}, 1e-3, {0.9, 1.0});
       },
       K::Value,
       {"Adam", "beta 1 at index 1", "[0, 1)"}},
      {"Adam",
       [] {
         tg::Adam({leaf({2})}, 1e-3, {0.9, 0.999}, -1e-8);
       },
       K::Value,
       {"Adam", "eps -1e-08", ">= 0"}},
      {"AdamW",
       [] {
         tg::AdamW({leaf({2})}, 1e-3, {0.9, 0.999}, 1e-8, -1);
       },
       K::Value,
       {"AdamW", "weight_decay -1", ">= 0"}},
      {"set_lr", [] { tg::SGD({leaf({2})}, 0.1).set_lr(-1); }, K::Value, {"SGD", "-1", "finite and >= 0"}},
      {"Optimizer::load_state_dict",
       [] { tg::SGD({leaf({2})}, 0.1).load_state_dict({}); },
       K::Value,
       {"SGD.load_state_dict", "no 'lr'", "pass a state_dict()"}},
      {"Optimizer::load_state_dict",
       [] {
         tg::SGD({leaf({2})}, 0.1).load_state_dict({{"lr", ones({2})}});
       },
       K::Shape,
       {"SGD.load_state_dict", "[2]", "it must be [1]"}},
      {"Optimizer::load_state_dict",
       [] {
         tg::SGD({leaf({2})}, 0.1).load_state_dict({{"lr", ones({1})}, {"bogus", ones({1})}});
       },
       K::Value,
       {"SGD.load_state_dict", "'bogus'", "expected 'lr'"}},
      {"save_optimizer", [no_dir] { tg::save_optimizer(tg::SGD({leaf({2})}, 0.1), no_dir); }, K::Io, {"out.bin"}},
      {"load_optimizer",
       [missing] {
         tg::SGD s({leaf({2})}, 0.1);
         tg::load_optimizer(s, missing);
       },
       K::Io,
       {"missing.bin"}},
      {"StepLR",
       [] {
         tg::SGD s({leaf({2})}, 0.1);
         tg::StepLR(s, 0);
       },
       K::Value,
       {"StepLR", "step_size 0", ">= 1"}},
      {"StepLR",
       [] {
         tg::SGD s({leaf({2})}, 0.1);
         tg::StepLR(s, 1, -0.5);
       },
       K::Value,
       {"StepLR", "gamma -0.5", ">= 0"}},
      {"CosineAnnealingLR",
       [] {
         tg::SGD s({leaf({2})}, 0.1);
         tg::CosineAnnealingLR(s, 0);
       },
       K::Value,
       {"CosineAnnealingLR", "T_max 0", ">= 1"}},
      {"CosineAnnealingLR",
       [] {
         tg::SGD s({leaf({2})}, 0.1);
         tg::CosineAnnealingLR(s, 5, -1);
       },
       K::Value,
       {"CosineAnnealingLR", "eta_min -1", ">= 0"}},
      // ---- data ----
      {"FashionMNIST",
       [missing] { tg::FashionMNIST{missing}; },
       K::Io,
       {"FashionMNIST", "missing.bin", "dataset-fashion-mnist"}},
      {"FashionMNIST::images",
       [&fmnist] { fmnist.images(2, 9); },
       K::Value,
       {"FashionMNIST::images", "[2, 9)", "end <= 4"}},
      {"FashionMNIST::labels",
       [&fmnist] { fmnist.labels(-1, 2); },
       K::Value,
       {"FashionMNIST::labels", "[-1, 2)", "end <= 4"}},
      {"FashionMNIST::get",
       [&fmnist] {
         std::vector<std::int64_t> i{4};
         fmnist.get(i);
       },
       K::Value,
       {"FashionMNIST::get", "index 4", "below 4"}},
      {"FashionMNIST::subset",
       [&fmnist] { fmnist.subset(-1); },
       K::Value,
       {"FashionMNIST::subset", "-1", "pass 0 or more"}},
      {"DataLoader",
       [&fmnist] { tg::DataLoader(fmnist, 0, false); },
       K::Value,
       {"DataLoader", "got 0", "batch size >= 1"}},
      {"DataLoader::set_limit",
       [&fmnist] { tg::DataLoader(fmnist, 2, false).set_limit(-3); },
       K::Value,
       {"set_limit", "-3", "pass 0 or more"}},
  };
}

}  // namespace

TEST_CASE("every public entry point rejects bad input with a tg:: error naming the op, the values and the fix",
          "[reliability][bad_input]") {
  tg::test::TempDir dir("bad_input");
  tg::test::write_fashion_mnist(dir, 4, 4);
  const tg::FashionMNIST fmnist(dir.path.string(), true);
  const std::vector<BadInput> rows = table(dir, fmnist);
  std::size_t tried = 0, passed = 0;
  for (const BadInput& row : rows) {
    ++tried;
    INFO("entry point " << row.entry << " (row " << tried << "), expecting " << kind_name(row.kind));
    bool ok = false;
    try {
      row.call();
      FAIL_CHECK("no exception was thrown");
    } catch (const tg::Error& e) {
      const std::string message = e.what();
      INFO("message: " << message << " (" << typeid(e).name() << ")");
      bool all = is_kind(e, row.kind);
      CHECK(is_kind(e, row.kind));
      for (const std::string& piece : row.contains) {
        INFO("the message should contain: " << piece);
        bool has = message.find(piece) != std::string::npos;
        CHECK(has);
        all = all && has;
      }
      ok = all;
    } catch (const std::exception& e) {
      FAIL_CHECK("threw a non-tg exception: " << e.what());
    }
    passed += ok ? 1 : 0;
  }
  WARN("bad input: tried " << tried << " bad calls on " << rows.size() << " rows, " << passed
                           << " rejected as expected");
  // The table cannot shrink unnoticed: this is its size when the test was written. (The
  // registry's ops list their own bad calls: test_registry.cpp runs those.)
  CHECK(rows.size() >= 126);
  CHECK(tried == rows.size());
  CHECK(passed == rows.size());
}

// The registry's ops get these rows from their entries (test_registry.cpp); here are public
// functions called by name: functions made of ops, and the backward halves of corr2d (registry
// ops too, checked here by the names a user calls them by).
TEST_CASE("an undefined tensor passed to an op is an error naming the op and the input", "[reliability][bad_input]") {
  const Tensor u;  // default-constructed: no shape, no data
  const Tensor image = ones({1, 1, 4, 4}), w = ones({1, 1, 2, 2});
  const std::vector<std::pair<std::string, std::function<void()>>> calls = {
      {"transpose", [&] { tg::transpose(u, 0, 1); }},
      {"corr2d_backward_input",
       [&] {
         tg::corr2d_backward_input(u, ones({2, 2}));
       }},
      {"corr2d_backward_kernel",
       [&] {
         tg::corr2d_backward_kernel(ones({3, 3}), u);
       }},
      {"conv2d_backward_input", [&] { tg::conv2d_backward_input(u, w, image.shape(), {}); }},
      {"conv2d_backward_weight", [&] { tg::conv2d_backward_weight(image, u, w.shape(), {}); }},
      {"flatten", [&] { tg::flatten(u); }},
      {"cross_entropy",
       [&] {
         tg::cross_entropy(u, std::vector<std::int64_t>{0, 1});
       }},
  };
  for (const auto& [op, call] : calls) {
    INFO("op " << op);
    try {
      call();
      FAIL_CHECK("no exception was thrown");
    } catch (const tg::ValueError& e) {
      CHECK_THAT(e.what(), Catch::StartsWith(op + ": ") && Catch::Contains("undefined tensor") &&
                               Catch::Contains("pass a tensor with data"));
    } catch (const std::exception& e) {
      FAIL_CHECK("threw something other than tg::ValueError: " << e.what());
    }
  }
}
