"""What people use: the CLI, the dashboard, the report, the demo and the appliance service."""
