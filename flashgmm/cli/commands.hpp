// Subcommands of the `flashgmm` command-line tool.
#pragma once

#include <CLI/CLI.hpp>

namespace flashgmm::cli {

void add_fit(CLI::App& app);       // fit a model to a data file
void add_score(CLI::App& app);     // mean log-likelihood of a data file
void add_predict(CLI::App& app);   // labels or top-m posteriors per row
void add_generate(CLI::App& app);  // a clustered synthetic data set
void add_info(CLI::App& app);      // summary of a model file

}  // namespace flashgmm::cli
