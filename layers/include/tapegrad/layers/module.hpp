#pragma once
// Module: the base of every layer. It owns named parameters and child modules, and
// lists them the way PyTorch's nn.Module does ("weight", "fc1.bias", ...).
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "tapegrad/tensor.hpp"

namespace tg {

class Module {
 public:
  Module() = default;
  virtual ~Module() = default;
  Module(const Module&) = delete;  // parameters are shared handles: copying would alias them
  Module& operator=(const Module&) = delete;

  // Every parameter, this module's first and then its children's, in registration order.
  std::vector<Tensor> parameters() const;
  std::vector<std::pair<std::string, Tensor>> named_parameters() const;
  // Clears the gradient of every parameter (PyTorch's zero_grad(set_to_none=True)); with
  // set_to_none = false, fills them with zeros instead.
  void zero_grad(bool set_to_none = true);

 protected:
  // Registers t (made to require grad) under `name` and returns it.
  Tensor register_parameter(const std::string& name, Tensor t);
  // Registers a child module whose parameters are listed as "<name>.<param>".
  template <class M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> module) {
    add_child(name, module);
    return module;
  }

 private:
  // Throws ValueError unless `name` is non-empty, has no '.', and names no parameter or child yet.
  void check_new_name(const char* what, const std::string& name) const;
  void add_child(const std::string& name, std::shared_ptr<Module> module);
  void collect(const std::string& prefix, std::vector<std::pair<std::string, Tensor>>& out) const;

  std::vector<std::pair<std::string, Tensor>> parameters_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
};

}  // namespace tg
