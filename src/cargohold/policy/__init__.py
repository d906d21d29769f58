"""Pure decisions: functions from facts to answers, with no I/O."""
