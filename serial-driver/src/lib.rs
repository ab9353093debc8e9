//! FK-3 keypad driver
