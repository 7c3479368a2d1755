// The model summary `flashgmm fit` prints after fitting and `flashgmm info` prints for a file.
#pragma once

#include <string>

#include "flashgmm/model.hpp"

namespace flashgmm::cli {

/// Prints the heaviest `max_rows` components (weight, mean variance over dimensions, first four
/// mean coordinates), then how many more there are.
void print_component_table(const Model& m, int max_rows = 10);

/// "1.2 MB", "16.0 GB": decimal units, as disk and memory figures are quoted in the README.
std::string human_bytes(double bytes);

}  // namespace flashgmm::cli
