"""The driver contract vendor plugins implement, and what every driver shares."""
