#include "muelab/theory/config.hpp"

namespace muelab::theory {

std::string to_string(FfnKind kind) { return kind == FfnKind::dense ? "dense" : "moe"; }
std::string to_string(RouterKind kind) { return kind == RouterKind::sigmoid ? "sigmoid" : "softmax"; }
std::string to_string(Activation activation) { return activation == Activation::gelu ? "gelu" : "swiglu"; }
std::string to_string(OptimizerKind kind) {
  switch (kind) {
    case OptimizerKind::adamw: return "adamw";
    case OptimizerKind::adam: return "adam";
    case OptimizerKind::sgd: return "sgd";
  }
  return "unknown";
}

}  // namespace muelab::theory
