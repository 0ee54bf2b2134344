"""What the appliance keeps as evidence: the store, the journal and the findings."""
