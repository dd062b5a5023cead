#pragma once
// Placeholder: the fake Docker engine lives here (see fake_engine.cpp).
