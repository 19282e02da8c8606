"""SMS: the channel (Twilio or a webhook gateway) and GSM-7/UCS-2 text fitting."""
