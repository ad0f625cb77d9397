"""The lobby visitor kiosk (前台来访登记): check-in flow, visitor passes, photo check, local UI."""
