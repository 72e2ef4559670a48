"""Constants the formulas share with the code that realises them (no sympy here, so it imports fast)."""

#: bits of one float32
FLOAT_BITS = 32
#: side information per block of the range quantizer: the two float32 endpoints m and M of the range
SIDE_INFO_BITS = 2 * FLOAT_BITS
#: side information per block of the QSGD quantizer: one float32 norm
QSGD_SIDE_INFO_BITS = FLOAT_BITS
