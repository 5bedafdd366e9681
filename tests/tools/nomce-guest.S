/*
 * tests/tools/nomce-guest.S -- the boot-sector guest of mce-guest.S without
 * CR4.MCE: QEMU resets it on an injected memory error (guest-reset tests).
 */
#define NO_MCE 1
#include "mce-guest.S"
