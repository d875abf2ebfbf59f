import { z } from 'zod';
import { limitParam, offsetParam } from '@platform/http';
import { ORG_ROLES } from '../domain/org-access';

const role = z.enum(ORG_ROLES, { error: `role must be one of ${ORG_ROLES.join(', ')}` });

/** Spec 001 `POST /org`. */
export const CreateOrgBody = z.object({ name: z.string().trim().min(1, 'name must not be empty').max(128) });

/** Spec 001 `POST /org/invite`. */
export const InviteBody = z.object({
  email: z.string().trim().max(254).pipe(z.email('email must be an email address')),
  role,
});

/** Spec 001 `PUT /org/members/:id/role`. */
export const RoleBody = z.object({ role });

export const MemberParams = z.object({ id: z.uuid('id must be a user id (a UUID)') });
export const InvitationParams = z.object({ id: z.uuid('id must be an invitation id (a UUID)') });
export const ListMembersQuery = z.object({ limit: limitParam(50), offset: offsetParam });
