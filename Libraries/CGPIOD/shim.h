// libgpiod 1.6 (Debian 12, Raspberry Pi OS bookworm). Nothing variadic.
#ifndef CGPIOD_SHIM_H
#define CGPIOD_SHIM_H
#include <gpiod.h>
#endif
