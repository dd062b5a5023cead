#include "support/fake_engine.hpp"
