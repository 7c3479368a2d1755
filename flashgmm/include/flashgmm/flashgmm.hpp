// flashgmm: everything a C++ user needs.
#pragma once

#include "flashgmm/backend.hpp"
#include "flashgmm/communicator.hpp"
#include "flashgmm/data_source.hpp"
#include "flashgmm/error.hpp"
#include "flashgmm/gaussian_mixture.hpp"
#include "flashgmm/model.hpp"
#include "flashgmm/params.hpp"
#include "flashgmm/stats.hpp"
#include "flashgmm/version.hpp"
