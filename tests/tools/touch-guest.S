/*
 * tests/tools/touch-guest.S -- the boot-sector guest of mce-guest.S that
 * keeps loading from GPA 0x9f000 until a machine check takes the page
 * offline (real-poison tests: the guest's own access gives BUS_MCEERR_AR).
 */
#define TOUCH 1
#include "mce-guest.S"
