"""Plain words for the codes the outbox, the timelines and the audit trail store (R-20, R-65).

The domain keeps codes (`no_consent`, `contact.read`...); people read sentences. A code without a
label is shown as itself, so a new code is never hidden.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

# Why a message was not sent, deferred or failed: the R-20 reasons and the providers' error codes.
REASONS = {
    "no_consent": _("No consent for this purpose and channel"),
    "consent_expired": _("Consent has expired"),
    "withdrawn": _("The person withdrew consent"),
    "objected": _("The person objected (for example by replying STOP)"),
    "not_informed": _("The person was never informed about this purpose"),
    "restricted": _("The contact is restricted"),
    "deceased": _("The contact is marked deceased"),
    "erased": _("The contact was erased"),
    "minor_without_guardian_consent": _("A minor without the guardian's consent"),
    "invalid_number": _("The number is marked invalid"),
    "expired": _("Too late: the appointment or hold had already started"),
    "event_cancelled": _("The event was cancelled"),
    "organisation_paused": _("Sending is paused for the organisation"),
    "purpose_inactive": _("The purpose is not active"),
    "window": _("Outside the sending hours"),
    "max_attempts": _("The provider could not be reached after several attempts"),
    "unknown_subscriber": _("The number does not exist"),
    "absent": _("The phone was switched off or unreachable"),
    "throttled": _("The provider limited the sending rate"),
    "timeout": _("The provider did not answer in time"),
    "down": _("The provider was unavailable"),
    "rejected": _("The provider rejected the message"),
    "undeliverable": _("The message could not be delivered"),
    "unknown": _("Unknown reason"),
}

# The lines of a message's timeline.
TIMELINE = {
    "scheduled": _("Scheduled"),
    "claimed": _("Picked up for sending"),
    "sending": _("Being sent"),
    "deferred": _("Deferred"),
    "retry": _("Will be tried again"),
    "sent": _("Handed to the provider"),
    "delivered": _("Delivered to the phone"),
    "failed": _("Not delivered"),
    "suppressed": _("Not sent (rule)"),
    "expired": _("Expired"),
    "cancelled": _("Cancelled"),
    "requeued": _("Put back in the queue"),
}

# The audit trail's action codes.
ACTIONS = {
    "apikey.created": _("API key created"),
    "apikey.revoked": _("API key revoked"),
    "audit.verified": _("Audit trail verified"),
    "auth.login": _("Signed in"),
    "auth.logout": _("Signed out"),
    "auth.organisation_switched": _("Switched to this organisation"),
    "auth.recovery_code_used": _("Recovery code used"),
    "auth.recovery_codes_issued": _("Recovery codes issued"),
    "auth.second_factor_verified": _("Second factor verified"),
    "auth.totp_enrolled": _("Authenticator app set up"),
    "campaign.batch_enqueued": _("Campaign: messages queued"),
    "campaign.cancelled": _("Campaign cancelled"),
    "campaign.completed": _("Campaign completed"),
    "campaign.created": _("Campaign created"),
    "campaign.paused": _("Campaign paused"),
    "campaign.resumed": _("Campaign resumed"),
    "campaign.started": _("Campaign launched"),
    "consent.evidence_read": _("Consent proof read"),
    "consent.receipt_exported": _("Consent receipt exported"),
    "consent.recorded": _("Consent recorded"),
    "consent.requested": _("Consent requested"),
    "consent.withdrawn": _("Consent withdrawn"),
    "contact.created": _("Contact created"),
    "contact.deceased": _("Contact marked deceased"),
    "contact.erased": _("Contact erased"),
    "contact.guardian_linked": _("Guardian linked"),
    "contact.guardian_unlinked": _("Guardian unlinked"),
    "contact.lookup": _("Contact searched"),
    "contact.number_invalidated": _("Number marked invalid"),
    "contact.phone_rectified": _("Number corrected"),
    "contact.read": _("Contact's personal data read"),
    "contact.restricted": _("Contact restricted"),
    "contact.restriction_lifted": _("Restriction lifted"),
    "contact.updated": _("Contact changed"),
    "event.bulk_upserted": _("Events imported in bulk"),
    "event.cancelled": _("Event cancelled"),
    "event.completed": _("Event completed"),
    "event.created": _("Event created"),
    "event.rescheduled": _("Event rescheduled"),
    "event.updated": _("Event changed"),
    "import.completed": _("Import completed"),
    "import.finish_failed": _("Import failed"),
    "import.validated": _("Import checked"),
    "inbound.stop": _("STOP received"),
    "information.recorded": _("Information given recorded"),
    "member.added": _("Member added"),
    "member.removed": _("Member removed"),
    "member.role_changed": _("Member's role changed"),
    "message.content_read": _("Message text read"),
    "message.created": _("Message created"),
    "message.delivered": _("Message delivered"),
    "message.failed": _("Message failed"),
    "notice.published": _("Notice published"),
    "organisation.created": _("Organisation created"),
    "organisation.stop_rate_alert": _("Too many STOP replies: campaigns paused"),
    "organisation.updated": _("Organisation settings changed"),
    "privacy.breach_assessed": _("Breach: risk assessed"),
    "privacy.breach_closed": _("Breach closed"),
    "privacy.breach_notified": _("Breach notified to the CNIL"),
    "privacy.breach_recorded": _("Breach recorded"),
    "privacy.breach_subjects_computed": _("Breach: people concerned listed"),
    "privacy.breach_subjects_notified": _("Breach: people concerned told"),
    "privacy.breach_updated": _("Breach changed"),
    "privacy.code_rejected": _("One-time code refused"),
    "privacy.code_requested": _("One-time code requested"),
    "privacy.compliance_report_generated": _("Compliance report generated"),
    "privacy.contact_erased": _("Contact erased"),
    "privacy.controller_profile_updated": _("Controller details changed"),
    "privacy.export_created": _("Access export created"),
    "privacy.export_read": _("Access export downloaded"),
    "privacy.purge_run": _("Retention purge run"),
    "privacy.register_generated": _("Register generated"),
    "privacy.request_completed": _("Rights request completed"),
    "privacy.request_extended": _("Rights request extended"),
    "privacy.request_linked": _("Rights request linked to a contact"),
    "privacy.request_read": _("Rights request read"),
    "privacy.request_received": _("Rights request received"),
    "privacy.request_refused": _("Rights request refused"),
    "privacy.request_started": _("Rights request started"),
    "privacy.retention_preset_applied": _("Retention preset applied"),
    "privacy.retention_set": _("Retention period changed"),
    "provider.account_created": _("Provider account added"),
    "provider.account_updated": _("Provider account changed"),
    "provider.circuit_closed": _("Provider available again"),
    "provider.circuit_opened": _("Provider set aside after failures"),
    "provider.webhook_rotated": _("Provider webhook address renewed"),
    "purpose.activated": _("Purpose activated"),
    "purpose.created": _("Purpose created"),
    "purpose.retired": _("Purpose retired"),
    "purpose.updated": _("Purpose changed"),
    "reminder_rule.created": _("Reminder rule created"),
    "reminder_rule.deactivated": _("Reminder rule switched off"),
    "reminder_rule.updated": _("Reminder rule changed"),
    "sending_settings.updated": _("Sending settings changed"),
    "site.created": _("Site created"),
    "site.updated": _("Site changed"),
    "suppression.added": _("Number added to the do-not-send list"),
    "suppression.lifted": _("Number removed from the do-not-send list"),
    "template.created": _("Template created"),
    "template.lint_overridden": _("Template wording allowed by the DPO"),
    "template.retired": _("Template retired"),
    "template.updated": _("Template changed"),
    "user.created": _("User created"),
    "user.language_changed": _("Language changed"),
    "user.password_changed": _("Password changed"),
    "webhook.endpoint_created": _("Webhook address added"),
    "webhook.endpoint_deleted": _("Webhook address removed"),
    "webhook.endpoint_disabled": _("Webhook address switched off"),
    "webhook.endpoint_enabled": _("Webhook address switched on"),
    "webhook.endpoint_updated": _("Webhook address changed"),
    "webhook.redelivered": _("Webhook sent again"),
    "webhook.secret_rotated": _("Webhook secret renewed"),
}


def reason_label(code: str) -> str:
    """The plain-words reason; an unknown provider code stays visible as itself."""
    if not code:
        return ""
    label = REASONS.get(code)
    return str(label) if label is not None else code


def timeline_label(kind: str) -> str:
    label = TIMELINE.get(kind)
    return str(label) if label is not None else kind


def action_label(code: str) -> str:
    label = ACTIONS.get(code)
    return str(label) if label is not None else code
