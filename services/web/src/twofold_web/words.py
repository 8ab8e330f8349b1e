"""Every word the pages show, in one place: a translation is another ``Words`` with the same fields."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .api import Answer


@dataclass(frozen=True)
class Words:
    product: str = "twofold"
    skip_to_content: str = "Skip to content"
    # sign up
    signup_title: str = "Create your account"
    signup_lead: str = ("Two steps: an email and a password, then an authenticator app on your phone. "
                        "Every sign-in asks for both.")
    email: str = "Email"
    password: str = "Password"
    new_password_hint: str = ("At least 10 characters. A few unrelated words are easy to remember and hard "
                              "to guess.")
    signup_submit: str = "Create account"
    have_account: str = "Already have an account?"
    email_invalid: str = "Enter an email address, like name@example.com."
    email_taken: str = "An account with this email exists. Sign in instead."
    signup_refused: str = "This was not accepted; check the email and the password."
    password_too_short: str = "Use at least 10 characters."
    password_guessable: str = "This password is easy to guess."
    password_strong: str = "Strong password."
    strength_label: str = "Password strength"
    # enrollment
    enroll_title: str = "Set up your authenticator"
    enroll_lead: str = ("Your account needs an authenticator app before you can use it. This takes a minute, "
                        "and cannot be skipped.")
    enroll_replace_lead: str = "Set up the new authenticator; the old one stops working when this one is confirmed."
    enroll_provider: str = "Use Simple TOTP"
    enroll_provider_hint: str = "Opens the Simple TOTP app, which sets everything up and brings you back."
    enroll_native: str = "Use another authenticator app"
    enroll_native_hint: str = "Google Authenticator, Aegis, 1Password, Authy... by scanning a QR code."
    enroll_choose: str = "Choose one of the two ways."
    enroll_scan: str = "Scan this QR code with your authenticator app."
    enroll_qr_title: str = "QR code to add this account to an authenticator app"
    enroll_key: str = "Cannot scan? Enter this key in the app instead:"
    enroll_code: str = "Then enter the 6-digit code the app shows"
    enroll_confirm: str = "Confirm"
    enroll_open_provider: str = "Open Simple TOTP"
    enroll_provider_steps: str = ("Accept the request in Simple TOTP. When it says you are done, come back here "
                                  "and continue.")
    enroll_continue: str = "I have finished in the app: continue"
    enroll_restart: str = "Use another way"
    enroll_pending: str = "Simple TOTP has not finished yet. Accept the request in the app, then continue."
    enroll_rejected: str = "The request was declined in the app. Choose a way to try again."
    enroll_expired: str = "That setup took too long and expired. Start it again."
    enroll_app_lead: str = ("{app} asks for a second factor: an authenticator app on your phone gives you a new "
                            "code every 30 seconds.")
    app_link_invalid: str = "This link to set up an authenticator is not valid. Go back to the app and start again."
    app_link_ended: str = "This setup has ended. Go back to the app; it can start a new one."
    app_enrolled: str = "Your authenticator is set up"
    app_continue: str = "Continue to {app}"
    code_wrong_new: str = "That code does not match. Check the app's clock and enter the code it shows now."
    # recovery codes
    recovery_title: str = "Save your recovery codes"
    recovery_lead: str = ("If you lose your phone, each of these codes signs you in once. They are shown only "
                          "now: download them or write them down, and keep them somewhere safe.")
    recovery_download: str = "Download as a text file"
    recovery_saved: str = "I have saved my recovery codes"
    recovery_continue: str = "Continue"
    recovery_confirm: str = "Confirm that you saved the codes to continue."
    recovery_file_header: str = "twofold recovery codes: each one signs you in once. Keep them safe."
    # sign in
    signin_title: str = "Sign in"
    signin_submit: str = "Continue"
    no_account: str = "No account yet?"
    signup_link: str = "Create one"
    signin_wrong: str = "The email or the password is wrong."
    code_title: str = "Enter your code"
    code_lead: str = "Open your authenticator app and enter the 6-digit code it shows for this account."
    code_label: str = "Code from your authenticator"
    code_open_app: str = "Open Simple TOTP"
    code_submit: str = "Sign in"
    use_recovery: str = "Lost your phone? Use a recovery code"
    use_code: str = "Use a code from the app instead"
    recovery_label: str = "Recovery code"
    code_wrong: str = ("That code did not work. Enter the code the app shows now; after too many tries, signing "
                       "in is paused for a while.")
    code_format: str = "Enter the 6 digits the app shows."
    required: str = "This is required."
    notice_registered: str = "If this email is new, your account was created: sign in to set up your authenticator."
    notice_enrolled: str = "Your authenticator is set up. Sign in with it now."
    notice_ended: str = "Your session ended. Sign in again."
    notice_deleted: str = "Your account was deleted."
    notice_signed_out: str = "You are signed out."
    notice_enroll_ended: str = "The setup ended. Sign in to continue."
    notice_challenge_ended: str = "That sign-in took too long or had too many tries. Start again."
    # account
    account_title: str = "Your account"
    signed_in_as: str = "Signed in as"
    authenticators: str = "Authenticators"
    added: str = "added"
    last_used: str = "last used"
    never: str = "never"
    sessions: str = "Signed-in devices"
    this_device: str = "this device"
    since: str = "since"
    revoke: str = "Sign out this device"
    new_recovery_codes: str = "Make new recovery codes"
    reenroll: str = "Replace your authenticator"
    delete_account: str = "Delete your account"
    sign_out: str = "Sign out"
    notice_reenrolled: str = "Your new authenticator is set up."
    notice_revoked: str = "That device is signed out."
    confirm_title: str = "Confirm with a code"
    confirm_lead: str = "This change needs a fresh code from your authenticator."
    confirm_submit: str = "Confirm"
    cancel: str = "Cancel"
    action_revoke_session: str = "Sign out a device"
    action_recovery_codes: str = "Make new recovery codes (the old ones stop working)"
    action_re_enroll: str = "Replace your authenticator"
    action_delete: str = "Delete your account and everything in it. This cannot be undone."
    # an app that signs its people in (OpenID Connect)
    signin_for_app: str = "{app} asks you to sign in with your twofold account."
    consent_title: str = "Allow this app?"
    consent_lead: str = "{app} asks to:"
    scope_openid: str = "Know who you are on twofold (your account's identifier)"
    scope_email: str = "See your email address"
    consent_remembered: str = "If you allow it, the app will not ask again for the same."
    consent_allow: str = "Allow"
    consent_deny: str = "Deny"
    consent_ended: str = "This request has ended. Go back to the app and sign in again."
    authorize_title: str = "Signing in to an app"
    authorize_invalid_title: str = "This sign-in link does not work"
    authorize_unknown_client: str = "No app signs in here with this link. Go back to the app and tell its owner."
    authorize_bad_redirect: str = ("This link would send you on to an address the app did not register, so it "
                                   "stops here. Go back to the app and tell its owner.")
    authorize_bad_request: str = "The app's request is not one this service accepts. Go back to the app and try again."
    # an app signs the person out (RP-initiated logout)
    logout_title: str = "Sign out of twofold?"
    logout_lead: str = "An app asks to sign you out."
    logout_app_lead: str = "{app} asks to sign you out."
    logout_effect: str = ("You will be signed out of twofold in this browser, and of the apps you signed in to "
                          "with it here.")
    logout_stay: str = "Stay signed in"
    signed_out_title: str = "You are signed out"
    logout_refused_title: str = "This sign-out link is not valid"
    logout_refused: str = ("The app sent a request this service cannot check, or an address it did not register. "
                           "Nothing was changed: go back to the app.")
    # refusals
    unavailable: str = "The service is unavailable just now. Try again in a moment."
    failed: str = "That did not work. Try again."
    form_expired_title: str = "This form expired"
    form_expired: str = "The form was older than your visit, or did not come from this site. Nothing was changed."
    start_again: str = "Start again"
    too_many_now: str = "Too many tries. Wait a while before trying again."
    too_many_seconds: str = "Too many tries. Try again in {seconds} seconds."

    def too_many(self, seconds: int | None) -> str:
        return self.too_many_seconds.format(seconds=seconds) if seconds else self.too_many_now

    def refusal(self, answer: Answer) -> str:
        if answer.status == 429:
            return self.too_many(answer.retry_after)
        if answer.status >= 500:
            return self.unavailable
        return self.failed

    def action(self, name: str) -> str:
        return str(getattr(self, "action_" + name.replace("-", "_")))

    def scope(self, name: str) -> str:
        """What an app may do with a scope it asks for, in words (the consent page)."""
        return str(getattr(self, "scope_" + name))


WORDS = Words()
