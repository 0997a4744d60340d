#pragma once
// tapegrad: everything in one include.
#include "tapegrad/error.hpp"
#include "tapegrad/gradcheck.hpp"
#include "tapegrad/io.hpp"
#include "tapegrad/layers/conv2d.hpp"
#include "tapegrad/layers/linear.hpp"
#include "tapegrad/layers/module.hpp"
#include "tapegrad/ops.hpp"
#include "tapegrad/optim/sgd.hpp"
#include "tapegrad/tape.hpp"
#include "tapegrad/tensor.hpp"
