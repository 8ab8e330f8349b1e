"""password attempts per account and source; email keys recomputed by the NFKC rule

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 14:00:00

"""
import logging
import unicodedata
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from email_validator import EmailNotValidError, validate_email

# revision identifiers, used by Alembic.
revision: str = '0005'
down_revision: str | Sequence[str] | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

log = logging.getLogger(__name__)


def upgrade() -> None:
    op.create_table(
        'password_attempts',
        sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column('account', sa.String(length=320), nullable=False),
        sa.Column('source', sa.String(length=64), nullable=False),
        sa.Column('attempted_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.Column('outcome', sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_password_attempts_account_time', 'password_attempts', ['account', 'attempted_at'])
    op.create_index('ix_password_attempts_source_time', 'password_attempts', ['source', 'attempted_at'])
    _rekey_emails()


def _rekey_emails() -> None:
    """lower(email) becomes the NFKC, case-folded key.

    Look-alikes registered before the rule would now share a key: none is merged
    into another.  A key already held stays with its row, and of the rows that
    would move to the same new key the oldest does; the others keep their old key
    (still unique, found only by their exact old spelling) and are logged by id
    for an operator to look at.  Addresses the rule refuses keep their key too.
    """
    bind = op.get_bind()
    rows = bind.execute(sa.text('SELECT id, email, email_normalized FROM users ORDER BY created_at, id')).all()
    taken = {row.email_normalized for row in rows}
    for row in rows:
        key = _key(row.email)
        if key is None:
            log.warning('email kept its old key: the new rule refuses it', extra={'user_id': str(row.id)})
            continue
        if key == row.email_normalized:
            continue
        if key in taken:
            log.warning('email kept its old key: a look-alike account holds the new one',
                        extra={'user_id': str(row.id)})
            continue
        bind.execute(sa.text('UPDATE users SET email_normalized = :key WHERE id = :id'), {'key': key, 'id': row.id})
        taken.add(key)


# The rule as it was when this migration was written (twofold_auth.emails then), frozen here: a migration
# must give the same result whatever the live code says later.
_WRITTEN_TOGETHER = ({'HAN', 'HIRAGANA', 'KATAKANA'}, {'HAN', 'BOPOMOFO'}, {'HAN', 'HANGUL'})
_SCRIPT_OF_NAME = {'CJK': 'HAN', 'IDEOGRAPHIC': 'HAN', 'KATAKANA-HIRAGANA': 'KATAKANA'}


def _key(raw: str) -> str | None:
    """The NFKC, case-folded key of an address, or None when the rule refuses it."""
    try:
        parts = validate_email(unicodedata.normalize('NFKC', raw.strip()), check_deliverability=False)
    except EmailNotValidError:
        return None
    for part in (parts.local_part, *parts.domain.split('.')):
        scripts = _scripts(part)
        if len(scripts) > 1 and not any(scripts - {'LATIN'} <= group for group in _WRITTEN_TOGETHER):
            return None
    return unicodedata.normalize('NFKC', f'{parts.local_part}@{parts.ascii_domain}'.casefold())


def _scripts(text: str) -> set[str]:
    scripts = set()
    for char in text:
        if unicodedata.category(char).startswith('L'):
            first = unicodedata.name(char, 'UNKNOWN').split()[0]
            scripts.add(_SCRIPT_OF_NAME.get(first, first))
    return scripts


def downgrade() -> None:
    # the recomputed keys stay (still unique); an address typed with full-width letters is then not found
    op.drop_index('ix_password_attempts_source_time', table_name='password_attempts')
    op.drop_index('ix_password_attempts_account_time', table_name='password_attempts')
    op.drop_table('password_attempts')
